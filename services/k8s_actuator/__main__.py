from k8s_actuator.service import main

main()
