DROP TABLE river_migration;
