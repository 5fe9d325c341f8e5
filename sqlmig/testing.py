"""pytest plugin for projects that use sqlmig: a database with the project's migrations applied, per test."""
