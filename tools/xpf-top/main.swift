print("xpf-top")
