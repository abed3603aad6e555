from informer.service import main

main()
