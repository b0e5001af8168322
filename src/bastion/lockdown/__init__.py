"""Who is locked down, and how each household is served: one answer for every capability."""
