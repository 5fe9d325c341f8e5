
CREATE TABLE tenant_42.part_0 (id int);

CREATE TABLE tenant_42.part_1 (id int);

CREATE TABLE tenant_42.part_2 (id int);

SELECT 'app_user';
