// crcxx: a C++ program using libcr (TestLibcrLanguages): a journal object
// whose thread-context callback closes its stream before a checkpoint and
// reopens it after, saying which way the checkpoint went.
#include <libcr.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

class Journal {
public:
	explicit Journal(std::string path) : path_(std::move(path)), out_(path_, std::ios::app) {}

	void tick(long n)
	{
		std::lock_guard<std::mutex> g(mu_);
		out_ << "tick " << n << std::endl;
	}

	// BLCR calls a plain function: the object comes back through arg.
	static int callback(void *arg) { return static_cast<Journal *>(arg)->checkpoint(); }

private:
	int checkpoint()
	{
		std::lock_guard<std::mutex> g(mu_);
		out_.close();
		int rc = cr_checkpoint(CR_CHECKPOINT_READY);
		out_.open(path_, std::ios::app);
		out_ << (rc > 0 ? "restarted" : rc == 0 ? "continued" : "failed") << std::endl;
		return 0;
	}

	std::string path_;
	std::ofstream out_;
	std::mutex mu_;
};

int main()
{
	Journal j("crcxx.out");
	if (cr_init() < 0 || cr_register_callback(Journal::callback, &j, CR_THREAD_CONTEXT) < 0)
		return 1;
	for (long n = 1;; n++) {
		j.tick(n);
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
}
