"""Running migrations on a server: the connection, the lock, the history table, and the execution of each file."""
