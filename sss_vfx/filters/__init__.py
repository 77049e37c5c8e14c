"""Image filters the method builds on: guided filter and derivative filters."""
