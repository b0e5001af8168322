"""Health codes (健康码): each resident's colour derived from their state by provincial rules
kept as a versioned data file (DOMAIN.md, "Health codes"; issue 14 §4)."""
