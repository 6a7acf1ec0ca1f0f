"""Multitask fine-tuning of a mobile backbone into a product-search embedding."""
