from node_planner.shell.service import main

main()
