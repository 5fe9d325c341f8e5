INSERT INTO role (role_code, name)
VALUES
    ('MDRWS', 'projectAdmin'),
    ('RWS', 'developer'),
    ('RS', 'guest'),
    ('DRWS', 'maintainer'),
    ('LRS', 'limitedGuest')
ON CONFLICT (name) DO NOTHING;

INSERT INTO project (owner_id, name, creation_time, update_time)
VALUES (1, 'library', now(), now())
ON CONFLICT (name) DO NOTHING;
