from prompt_service.cli import app

app()
