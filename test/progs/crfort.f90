! crfort: a Fortran program using libcr through ISO_C_BINDING
! (TestLibcrLanguages). Its callback flushes its output unit before a
! checkpoint and says which way the checkpoint went.
module crcb
  use iso_c_binding
  implicit none
  integer(c_int), parameter :: CR_THREAD_CONTEXT = int(z'4000000', c_int)
  integer(c_int), parameter :: CR_CHECKPOINT_READY = 0
  interface
    function cr_init() bind(C, name="cr_init") result(id)
      import :: c_int
      integer(c_int) :: id
    end function
    function cr_register_callback(f, arg, flags) bind(C, name="cr_register_callback") result(id)
      import :: c_int, c_funptr, c_ptr
      type(c_funptr), value :: f
      type(c_ptr), value :: arg
      integer(c_int), value :: flags
      integer(c_int) :: id
    end function
    function cr_checkpoint(flags) bind(C, name="cr_checkpoint") result(rc)
      import :: c_int
      integer(c_int), value :: flags
      integer(c_int) :: rc
    end function
    function usleep(us) bind(C, name="usleep") result(rc)
      import :: c_int
      integer(c_int), value :: us
      integer(c_int) :: rc
    end function
  end interface
contains
  function before_checkpoint(arg) bind(C) result(r)
    type(c_ptr), value :: arg
    integer(c_int) :: r, rc
    flush(10)
    rc = cr_checkpoint(CR_CHECKPOINT_READY)
    if (rc > 0) then
      write(10, '(a)') 'restarted'
    else if (rc == 0) then
      write(10, '(a)') 'continued'
    else
      write(10, '(a,i0)') 'failed ', rc
    end if
    flush(10)
    r = 0
  end function
end module

program crfort
  use crcb
  implicit none
  integer :: i
  integer(c_int) :: id
  open(10, file='crfort.out', position='append', action='write')
  id = cr_init()
  if (id < 0) stop 1
  id = cr_register_callback(c_funloc(before_checkpoint), c_null_ptr, CR_THREAD_CONTEXT)
  if (id < 0) stop 2
  do i = 1, 100000000
    write(10, '(a,i0)') 'tick ', i
    flush(10)
    id = usleep(50000)
  end do
end program
