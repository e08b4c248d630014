package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.util.Arrays;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;

/**
 * {@code --drop-privileges}: the supervisor, started as root to bind, becomes its workers' user for good.
 *
 * <p>Called through glibc, not the raw system calls: the kernel changes the credentials of the calling thread only,
 * and a JVM has dozens; glibc's {@code setresuid}/{@code setresgid}/{@code setgroups} signal every other thread of
 * the process to make the same change (nptl's "setxid" broadcast), so no thread (GC, JIT, the admin server) stays
 * root. The order is the one OpenSSH's {@code permanently_set_uid} and HAProxy use: supplementary groups first and
 * the gid next, while still root (both need CAP_SETGID), the uid last (it drops every capability). All three ids
 * (real, effective, saved) are set, so there is no way back; {@link #switchTo} then checks that there is none.
 *
 * <p>One consequence the kernel adds: a process whose credentials changed is no longer "dumpable", so its
 * {@code /proc/PID} files belong to root. The process itself still reads its own; other users (and {@code jcmd} run
 * as the new user) cannot look in.
 */
public final class Privileges {
    /** The credential calls; the runtime's {@code LibC} is shared with workers, which never need these. */
    public interface CredentialsLib {
        int initgroups(String user, int group);

        int setgroups(@size_t long size, int[] list);

        int setresgid(int rgid, int egid, int sgid);

        int setresuid(int ruid, int euid, int suid);

        int getresuid(@Out int[] ruid, @Out int[] euid, @Out int[] suid);

        int getresgid(@Out int[] rgid, @Out int[] egid, @Out int[] sgid);

        int setuid(int uid);
    }

    private static final CredentialsLib LIB = LibraryLoader.create(CredentialsLib.class).load("c");
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIB);

    private Privileges() {
    }

    /** Real, effective and saved uid of this process. */
    public static int[] uids() throws NativeException {
        int[] r = new int[1];
        int[] e = new int[1];
        int[] s = new int[1];
        check(LIB.getresuid(r, e, s), "getresuid()");
        return new int[] {r[0], e[0], s[0]};
    }

    /** Real, effective and saved gid of this process. */
    public static int[] gids() throws NativeException {
        int[] r = new int[1];
        int[] e = new int[1];
        int[] s = new int[1];
        check(LIB.getresgid(r, e, s), "getresgid()");
        return new int[] {r[0], e[0], s[0]};
    }

    /** Whether every uid and gid of this process already is {@code uid}:{@code gid} (nothing left to drop). */
    public static boolean runsAs(int uid, int gid) throws NativeException {
        for (int u : uids()) {
            if (u != uid) {
                return false;
            }
        }
        for (int g : gids()) {
            if (g != gid) {
                return false;
            }
        }
        return true;
    }

    /**
     * Switches the whole process, every thread, to {@code uid}:{@code gid} for good, with the supplementary groups of
     * user {@code name} ({@code initgroups}, as {@code setpriv --init-groups} gives the workers), or only {@code gid}
     * when the passwd database does not know {@code name} (a bare uid).
     *
     * @throws IOException a {@link NativeException} naming the call that failed (EPERM: not root, or no
     *     CAP_SETUID/CAP_SETGID in this container), or a way back to root found; the process may then be half
     *     switched, and must not go on
     */
    public static void switchTo(String name, int uid, int gid) throws IOException {
        synchronized (Accounts.class) { // getpwnam's static storage, shared with Accounts
            if (Native.LIBC.getpwnam(name) != null) {
                check(LIB.initgroups(name, gid), "initgroups(" + name + ", " + gid + ")");
            } else {
                check(LIB.setgroups(1, new int[] {gid}), "setgroups(1, [" + gid + "])");
            }
        }
        check(LIB.setresgid(gid, gid, gid), "setresgid(" + gid + ", " + gid + ", " + gid + ")");
        check(LIB.setresuid(uid, uid, uid), "setresuid(" + uid + ", " + uid + ", " + uid + ")");
        // The paranoid check of OpenSSH's permanently_set_uid: a way back to root means the drop did not hold.
        if (uid != 0 && LIB.setuid(0) == 0) {
            throw new IOException("setuid(0) succeeded after the switch to uid " + uid + ": privileges were not "
                    + "dropped");
        }
        if (!runsAs(uid, gid)) {
            throw new IOException("after the switch to " + uid + ":" + gid + " the process still has uids "
                    + Arrays.toString(uids()) + " and gids " + Arrays.toString(gids()));
        }
    }

    private static int check(int rc, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, RUNTIME.getLastError());
        }
        return rc;
    }
}
