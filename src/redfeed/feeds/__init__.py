"""Feeds: one Scrapy spider per source, found by name through :mod:`redfeed.feeds.registry`.

Importing this package (or the registry) does not import Scrapy: the loader image has no Scrapy.
"""
