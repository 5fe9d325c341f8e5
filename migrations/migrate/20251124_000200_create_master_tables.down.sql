DROP TABLE IF EXISTS master.locations;
DROP TABLE IF EXISTS master.categories;
