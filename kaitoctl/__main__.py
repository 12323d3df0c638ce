from kaitoctl.main import run

run()
