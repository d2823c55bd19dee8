"""The warehouse: Amazon Redshift, or PostgreSQL standing in for it locally.

- :mod:`~redfeed.warehouse.models`: the schema as code (SQLAlchemy models, Redshift design);
- :mod:`~redfeed.warehouse.jsonpaths`: column lists, JSONPaths and column facts derived from them;
- :mod:`~redfeed.warehouse.migrate`: run the Alembic migrations (``migrations/``) from code;
- :mod:`~redfeed.warehouse.drift`: compare a live warehouse with the models;
- :mod:`~redfeed.warehouse.ddl`: print the Redshift DDL (``make redshift-ddl``);
- :mod:`~redfeed.warehouse.dialect`: what Redshift needs that the libraries do not do.

Importing the package imports nothing else; import the module you need.
"""
