from graph_planner.shell.service import main

main()
