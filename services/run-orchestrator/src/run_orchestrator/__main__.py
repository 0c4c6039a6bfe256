from run_orchestrator.cli import app

app()
