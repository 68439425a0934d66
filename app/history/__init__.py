"""The database: tables, engine and migrations, the predictions recorded and
labelled, their ids, the background writer and the CSV export. SQLAlchemy;
imports nothing of the application but its errors."""
