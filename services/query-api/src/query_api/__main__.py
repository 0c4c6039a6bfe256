from query_api.cli import app

if __name__ == "__main__":  # not when a rebuild's worker process imports this module
    app()
