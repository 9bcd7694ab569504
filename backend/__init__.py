"""provider-desk core: the FastAPI application and its domains."""
