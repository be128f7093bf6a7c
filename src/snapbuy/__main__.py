from snapbuy.cli import main

if __name__ == "__main__":  # also when multiprocessing spawns a process from `python -m snapbuy`
    main()
