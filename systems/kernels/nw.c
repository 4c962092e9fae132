/* Needleman-Wunsch global sequence alignment score (Rodinia's kind). Usage: nw LENGTH PENALTY */
#include <stdio.h>
#include <stdlib.h>

static unsigned long long state = 5;
static int base(void) { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return (int)(state >> 62); }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4000, penalty = argc > 2 ? atoi(argv[2]) : 10;
    int *a = malloc(sizeof(int) * n), *b = malloc(sizeof(int) * n);
    int *score = malloc(sizeof(int) * (size_t)(n + 1) * (n + 1));
    for (int i = 0; i < n; i++) { a[i] = base(); b[i] = base(); }
    for (int i = 0; i <= n; i++) { score[(size_t)i * (n + 1)] = -i * penalty; score[i] = -i * penalty; }
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= n; j++) {
            int diagonal = score[(size_t)(i - 1) * (n + 1) + j - 1] + (a[i - 1] == b[j - 1] ? 5 : -3);
            int up = score[(size_t)(i - 1) * (n + 1) + j] - penalty, left = score[(size_t)i * (n + 1) + j - 1] - penalty;
            int best = diagonal > up ? diagonal : up;
            score[(size_t)i * (n + 1) + j] = best > left ? best : left;
        }
    long long checksum = 0;
    for (int j = 0; j <= n; j++) checksum += score[(size_t)n * (n + 1) + j];
    printf("checksum %lld\n", checksum);
    return 0;
}
