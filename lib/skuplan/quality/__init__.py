"""Data quality: row rules that quarantine with reasons, and Great Expectations suites as gates."""
