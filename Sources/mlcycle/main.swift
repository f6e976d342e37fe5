print("mlcycle")
