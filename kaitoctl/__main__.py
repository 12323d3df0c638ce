from kaitoctl.main import app

app()
