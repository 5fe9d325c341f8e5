"""Fault tests: runners killed, servers restarted, lock holders terminated, many runners at once."""
