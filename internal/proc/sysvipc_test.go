package proc

import "testing"

func TestParseSysvShm(t *testing.T) {
	data := []byte("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n" +
		"   1234567          3   600                 65536   100   101      2     0     0     0     0 1700000000          0 1700000000                  8192                     0\n" +
		"         0      32769  1600                  4096   100   101      1  1000  1000  1000  1000 1700000000          0 1700000000                  4096                     0\n")
	segs, err := ParseSysvShm(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || segs[0].Key != 1234567 || segs[0].ID != 3 || segs[0].Size != 65536 || segs[0].Mode != 0o600 || segs[0].Removed() {
		t.Fatalf("first: %+v", segs)
	}
	if !segs[1].Removed() || segs[1].Uid != 1000 || segs[1].Key != 0 {
		t.Fatalf("second: %+v", segs[1])
	}
	if _, err := ParseSysvShm([]byte("header\n1 2 3\n")); err == nil {
		t.Fatal("a short line parsed")
	}
}
