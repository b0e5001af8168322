"""The daily bulletin (每日通报): the figures a city publishes each day, from cases and zones."""
