"""Console pages, one module per subject: registry, zones, cases, bulletin, testing, supply and
delivery; their templates live under `console/<subject>/`. `common` holds what they share."""
