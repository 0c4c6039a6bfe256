from query_api.cli import app

if __name__ == "__main__":  # the rebuild's worker processes import this module again (spawn)
    app()
