// placeholder while the head agent is written
int main() { return 1; }
