CREATE TABLE iam.realm (
    id varchar(36) NOT NULL,
    name varchar(255),
    enabled boolean NOT NULL DEFAULT false,
    ssl_required varchar(255),
    access_token_lifespan integer,
    login_theme varchar(255),
    created_timestamp varchar(20),
    CONSTRAINT constraint_4a PRIMARY KEY (id)
);
CREATE TABLE iam.client (
    id varchar(36) NOT NULL,
    client_id varchar(255),
    realm_id varchar(36) NOT NULL,
    description varchar(255),
    secret varchar(255),
    CONSTRAINT constraint_7 PRIMARY KEY (id),
    CONSTRAINT fk_p56ctinxxb9gsk57fo49f9tac FOREIGN KEY (realm_id) REFERENCES iam.realm (id)
);
CREATE TABLE iam.client_attributes (
    client_id varchar(36) NOT NULL,
    name varchar(255) NOT NULL,
    value varchar(4000)
);
ALTER TABLE iam.client_attributes ADD CONSTRAINT client_attributes_pk PRIMARY KEY (client_id, name);
ALTER TABLE iam.client_attributes ADD CONSTRAINT fk3c47c64beacca966 FOREIGN KEY (client_id) REFERENCES iam.client (id);
CREATE INDEX idx_client_att_by_name_value ON iam.client_attributes USING btree (name, substr(value, 1, 255));
