DROP TABLE IF EXISTS auth.session;
DROP TABLE IF EXISTS auth."user";
