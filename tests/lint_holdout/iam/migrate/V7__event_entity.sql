CREATE TABLE iam.event_entity (id varchar(36) NOT NULL, realm_id varchar(255), type varchar(255)); -- expect: SQM005
