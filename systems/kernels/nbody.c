/* N-body: all-pairs gravitational forces, leapfrog integration. Usage: nbody BODIES STEPS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long state = 42;
static double uniform(void) { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return (state >> 11) * 0x1.0p-53; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000, steps = argc > 2 ? atoi(argv[2]) : 10;
    double *x = malloc(sizeof(double) * n * 7), *y = x + n, *z = y + n, *vx = z + n, *vy = vx + n, *vz = vy + n, *m = vz + n;
    for (int i = 0; i < n; i++) {
        x[i] = uniform() - 0.5; y[i] = uniform() - 0.5; z[i] = uniform() - 0.5;
        vx[i] = vy[i] = vz[i] = 0.0; m[i] = (0.5 + uniform()) / n;
    }
    const double dt = 1e-3, soft = 1e-2;
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++) {
            double ax = 0, ay = 0, az = 0;
            for (int j = 0; j < n; j++) {
                double dx = x[j] - x[i], dy = y[j] - y[i], dz = z[j] - z[i];
                double d2 = dx * dx + dy * dy + dz * dz + soft;
                double inv = m[j] / (d2 * sqrt(d2));
                ax += dx * inv; ay += dy * inv; az += dz * inv;
            }
            vx[i] += dt * ax; vy[i] += dt * ay; vz[i] += dt * az;
        }
        for (int i = 0; i < n; i++) { x[i] += dt * vx[i]; y[i] += dt * vy[i]; z[i] += dt * vz[i]; }
    }
    double energy = 0;
    for (int i = 0; i < n; i++) energy += 0.5 * m[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]) + x[i] + y[i] + z[i];
    printf("checksum %.12e\n", energy);
    free(x);
    return 0;
}
