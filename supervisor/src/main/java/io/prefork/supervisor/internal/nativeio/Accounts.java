package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import jnr.ffi.Pointer;

/**
 * User and group names to numbers, through libc's {@code getpwnam} and {@code getgrnam}, so that every source the
 * system is configured with (NSS: /etc/passwd, LDAP, systemd's dynamic users) answers, as for {@code setpriv} itself.
 * Numbers are accepted as they are. Both calls return static storage: synchronized, and read at once.
 */
public final class Accounts {
    // struct passwd { char *pw_name @0; char *pw_passwd @8; uid_t pw_uid @16; gid_t pw_gid @20; ... }  (64-bit Linux)
    // struct group  { char *gr_name @0; char *gr_passwd @8; gid_t gr_gid @16; ... }
    private static final int PW_UID = 16;
    private static final int PW_GID = 20;
    private static final int GR_GID = 16;

    /** A user: its uid and its primary group's gid. */
    public record User(String name, int uid, int gid) {
    }

    private Accounts() {
    }

    /** The user named (or numbered) {@code name}, or null if there is none. */
    public static synchronized User user(String name) {
        Pointer pw = Native.LIBC.getpwnam(name);
        if (pw == null) {
            if (name.matches("[0-9]{1,9}")) {
                int uid = Integer.parseInt(name);
                return new User(name, uid, uid);
            }
            return null;
        }
        return new User(name, pw.getInt(PW_UID), pw.getInt(PW_GID));
    }

    /** The gid of the group named (or numbered) {@code name}, or -1 if there is none. */
    public static synchronized int group(String name) {
        Pointer gr = Native.LIBC.getgrnam(name);
        if (gr == null) {
            return name.matches("[0-9]{1,9}") ? Integer.parseInt(name) : -1;
        }
        return gr.getInt(GR_GID);
    }
}
