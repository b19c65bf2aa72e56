print("xpfctl")
