from worker.provisioning_worker import main

main()
