package proc

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const pad = "                     " // the kernel pads the path column

func TestParseMaps(t *testing.T) {
	cases := []struct {
		line string
		want Mapping
	}{
		{"5585a16cb000-5585a16cd000 r--p 00000000 fe:00 247026" + pad + "/usr/bin/cat",
			Mapping{Start: 0x5585a16cb000, End: 0x5585a16cd000, Read: true, Major: 0xfe, Inode: 247026, Path: "/usr/bin/cat"}},
		{"7f7d1e315000-7f7d1e46b000 r-xp 00026000 103:05 326269 /lib/libc.so.6",
			Mapping{Start: 0x7f7d1e315000, End: 0x7f7d1e46b000, Read: true, Exec: true, Offset: 0x26000, Major: 0x103, Minor: 5, Inode: 326269, Path: "/lib/libc.so.6"}},
		{"7f7d1e26a000-7f7d1e28c000 rw-p 00000000 00:00 0 ",
			Mapping{Start: 0x7f7d1e26a000, End: 0x7f7d1e28c000, Read: true, Write: true}},
		{"1000-2000 ---p 00000000 00:00 0", Mapping{Start: 0x1000, End: 0x2000}},
		{"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
			Mapping{Start: 0xffffffffff600000, End: 0xffffffffff601000, Exec: true, Path: "[vsyscall]"}},
		{"1000-2000 rw-s 00000000 00:01 1234" + pad + "/dev/zero (deleted)",
			Mapping{Start: 0x1000, End: 0x2000, Read: true, Write: true, Shared: true, Minor: 1, Inode: 1234, Path: "/dev/zero", Deleted: true}},
		{"1000-2000 rw-s 00000000 00:01 98307" + pad + "/SYSV00000000 (deleted)",
			Mapping{Start: 0x1000, End: 0x2000, Read: true, Write: true, Shared: true, Minor: 1, Inode: 98307, Path: "/SYSV00000000", Deleted: true}},
		{"1000-2000 rw-s 00000000 00:01 7" + pad + "/memfd:name (deleted)",
			Mapping{Start: 0x1000, End: 0x2000, Read: true, Write: true, Shared: true, Minor: 1, Inode: 7, Path: "/memfd:name", Deleted: true}},
	}
	for _, c := range cases {
		got, err := ParseMaps([]byte(c.line + "\n"))
		if err != nil || len(got) != 1 || got[0] != c.want {
			t.Errorf("ParseMaps(%q) = %+v, %v; want %+v", c.line, got, err, c.want)
		}
	}
}

func TestParseMapsNames(t *testing.T) {
	cases := []struct {
		name, path string
		deleted    bool
	}{
		{"[heap]", "[heap]", false},
		{"[stack]", "[stack]", false},
		{"[vdso]", "[vdso]", false},
		{"[vvar]", "[vvar]", false},
		{"[vvar_vclock]", "[vvar_vclock]", false},
		{"[anon:foo bar]", "[anon:foo bar]", false},
		{"[anon_shmem:x]", "[anon_shmem:x]", false},
		{"/tmp/a b (deleted)", "/tmp/a b", true},
		{"/tmp/a b (deleted) (deleted)", "/tmp/a b (deleted)", true},
		{"/tmp/trailing  ", "/tmp/trailing  ", false},
		{"/tmp/new\\012line", "/tmp/new\\012line", false},
		{"/tmp/  two spaces: 0 00:00 x-y", "/tmp/  two spaces: 0 00:00 x-y", false},
		{"/memfd:we ird (deleted)", "/memfd:we ird", true},
	}
	for _, c := range cases {
		line := "1000-2000 rw-p 00000000 00:00 0" + pad + c.name
		got, err := ParseMaps([]byte(line))
		if err != nil || len(got) != 1 || got[0].Path != c.path || got[0].Deleted != c.deleted {
			t.Errorf("ParseMaps(%q) = %+v, %v; want path %q deleted %v", line, got, err, c.path, c.deleted)
		}
	}
}

func TestParseMapsErrors(t *testing.T) {
	good := "1000-2000 r--p 00000000 00:00 0 \n"
	for _, bad := range []string{
		"garbage",
		"\n",
		"1000-2000",
		"2000-1000 r--p 00000000 00:00 0",
		"1000 r--p 00000000 00:00 0",
		"1000-zz r--p 00000000 00:00 0",
		"1000-2000 rwxq 00000000 00:00 0",
		"1000-2000 r-- 00000000 00:00 0",
		"1000-2000 wr-p 00000000 00:00 0",
		"1000-2000 r--p 0000000g 00:00 0",
		"1000-2000 r--p 00000000 0000 0",
		"1000-2000 r--p 00000000 00:00",
		"1000-2000 r--p 00000000 00:00 x /a",
		"1000-2000 r--p 00000000 00:00 -1",
		"1000-2000  r--p 00000000 00:00 0",
		"10000000000000000-10000000000000001 r--p 00000000 00:00 0",
	} {
		_, err := ParseMaps([]byte(good + bad + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2: ") {
			t.Errorf("ParseMaps(%q) error = %v, want a line 2 error", bad, err)
		}
	}
	if m, err := ParseMaps(nil); err != nil || len(m) != 0 {
		t.Errorf("ParseMaps(nil) = %v, %v", m, err)
	}
}

func TestParseSmapsFlags(t *testing.T) {
	data := "1000-2000 rw-p 00000000 00:00 0 \nSize:                  4 kB\nVmFlags: rd wr mr mw me ac \n" +
		"7ffe497f8000-7ffe49819000 rw-p 00000000 00:00 0                          [stack]\n" +
		"THPeligible:    0\nVmFlags: rd wr mr mw me gd ac \n" +
		"3000-4000 r--p 00000000 00:00 0" + pad + "/x-y: z\nRss:  0 kB\n"
	maps, _, err := ParseSmaps([]byte(data))
	if err != nil || len(maps) != 3 || maps[1].Path != "[stack]" || maps[2].Path != "/x-y: z" || maps[2].Start != 0x3000 {
		t.Errorf("ParseSmaps mappings = %+v, %v; want 1000-2000, the stack, 3000-4000 /x-y: z", maps, err)
	}
	got, err := ParseSmapsFlags([]byte(data))
	want := map[uint64][]string{
		0x1000:         {"rd", "wr", "mr", "mw", "me", "ac"},
		0x7ffe497f8000: {"rd", "wr", "mr", "mw", "me", "gd", "ac"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSmapsFlags = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"VmFlags: rd\n", "1-0 rw-p 0 00:00 0\n", "1000-2000 rw-p x 00:00 0\n"} {
		if _, err := ParseSmapsFlags([]byte(bad)); err == nil {
			t.Errorf("ParseSmapsFlags(%q) succeeded", bad)
		}
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("5585a16cb000-5585a16cd000 r--p 00000000 fe:00 247026   /usr/bin/cat\n"))
	f.Add([]byte("1000-2000 rw-s 00000000 00:01 1234   /dev/zero (deleted)\n1000-2000 ---p 0 0:0 0 \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMaps(data)
		if err != nil && m != nil {
			t.Fatalf("both result and error: %v", err)
		}
		for _, x := range m {
			if x.Start > x.End {
				t.Fatalf("start > end: %+v", x)
			}
		}
	})
}

func findMapping(t *testing.T, maps []Mapping, addr uint64) Mapping {
	t.Helper()
	for _, m := range maps {
		if m.Start <= addr && addr < m.End {
			return m
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return Mapping{}
}

var writable [4096]byte

func TestReadMapsSelf(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "we ird (deleted) \n x")
	if err := os.WriteFile(name, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	fileMem, err := unix.Mmap(int(f.Fd()), 4096, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(fileMem)
	os.Remove(name)

	mfd, err := unix.MemfdCreate("we ird", 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Ftruncate(mfd, 4096)
	memfdMem, err := unix.Mmap(mfd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	unix.Close(mfd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(memfdMem)

	anon, err := unix.Mmap(-1, 0, 3*4096, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(anon)
	anonName, _ := unix.BytePtrFromString("foo bar")
	nameErr := unix.Prctl(unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, uintptr(addr(anon)), 4096, uintptr(unsafe.Pointer(anonName)))
	named := nameErr == nil
	if err := unix.Madvise(anon[2*4096:], unix.MADV_DONTDUMP); err != nil {
		t.Fatal(err)
	}

	maps, err := ReadMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m := findMapping(t, maps, addr(fileMem))
	want := strings.ReplaceAll(name, "\n", `\012`)
	if m.Path != want || !m.Deleted || m.Offset != 4096 || !m.Read || m.Write || m.Shared ||
		m.Inode == 0 || m.Start != addr(fileMem) || m.End != m.Start+4096 {
		t.Errorf("file mapping = %+v, want path %q deleted, offset 4096", m, want)
	}
	if m := findMapping(t, maps, addr(memfdMem)); m.Path != "/memfd:we ird" || !m.Deleted || !m.Shared || !m.Write {
		t.Errorf("memfd mapping = %+v", m)
	}
	if m := findMapping(t, maps, addr(anon)); named && m.Path != "[anon:foo bar]" {
		t.Errorf("named anonymous mapping = %+v", m)
	} else if !named {
		t.Logf("PR_SET_VMA_ANON_NAME: %v", nameErr)
	}
	if m := findMapping(t, maps, uint64(uintptr(unsafe.Pointer(&writable)))); !m.Write || m.Exec {
		t.Errorf("data mapping = %+v", m)
	}
	var stack uint64
	for _, m := range maps {
		if m.Path == "[stack]" {
			stack = m.Start
		}
	}
	if stack == 0 || !slices.ContainsFunc(maps, func(m Mapping) bool { return m.Path == "[vdso]" }) {
		t.Fatalf("no [stack] or [vdso] in %+v", maps)
	}

	flags, err := ReadSmapsFlags(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	smaps, sflags, err := ReadSmaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(smaps, func(m Mapping) bool { return m.Path == "[stack]" && m.Start == stack }) ||
		!slices.Contains(sflags[stack], "gd") {
		t.Errorf("ReadSmaps: no [stack] at %#x with gd in %+v", stack, smaps)
	}
	if len(smaps) != len(sflags) {
		t.Errorf("ReadSmaps: %d mappings, %d with flags", len(smaps), len(sflags))
	}
	if !slices.Contains(flags[stack], "gd") {
		t.Errorf("[stack] flags %v lack gd", flags[stack])
	}
	if f := flags[addr(anon)+2*4096]; !slices.Contains(f, "dd") || !slices.Contains(f, "rd") {
		t.Errorf("MADV_DONTDUMP mapping flags %v lack dd", f)
	}
	if len(flags) != len(maps) {
		t.Logf("%d mappings in maps, %d in smaps (the heap may have changed)", len(maps), len(flags))
	}
}

func addr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }
