from snapbuy.cli import main

main()
