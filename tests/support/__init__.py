"""Test doubles and observers: what only tests need stays out of the shipped package."""
