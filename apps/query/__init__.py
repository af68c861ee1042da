"""The query vocabulary every insight shares: date ranges of whole buckets, property
filters, breakdown values, and how pages show them.

It sits between ingest and the insight apps (analytics, funnels, and later ones), so that
those apps never import one another: one rule for each of these, in one place.
"""
