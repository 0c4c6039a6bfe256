from query_api.cli import app

app()
