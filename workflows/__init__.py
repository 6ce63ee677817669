"""Durable workflows for Django: the app that is the product."""
