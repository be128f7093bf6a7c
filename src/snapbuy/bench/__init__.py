"""`snapbuy bench`: benchmark suites. Every comparison is measured side by side in one run."""
