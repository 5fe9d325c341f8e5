SET lock_timeout = '5s';
-- expect: SQM405
ALTER TABLE ONLY inventory.inventory
    ADD CONSTRAINT inventory_store_id_fkey FOREIGN KEY (store_id) REFERENCES inventory.store(store_id) ON UPDATE CASCADE ON DELETE RESTRICT;
-- expect: SQM401
CREATE INDEX idx_fk_film_id ON ONLY inventory.inventory USING btree (film_id);
