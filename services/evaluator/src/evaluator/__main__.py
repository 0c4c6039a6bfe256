from evaluator.cli import app

app()
