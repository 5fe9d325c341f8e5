INSERT INTO master.categories (name) VALUES
    ('Electronics'),
    ('Books'),
    ('Home & Garden')
ON CONFLICT (name) DO NOTHING;

INSERT INTO master.categories (name, parent_id)
SELECT 'E-readers', id FROM master.categories WHERE name = 'Electronics'
ON CONFLICT (name) DO NOTHING;
